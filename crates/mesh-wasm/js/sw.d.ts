// Types of `mesh-loader/sw`, the page half of the service-worker mode (sw.js). The worker
// itself, `mesh-loader/sw-worker.js`, is a classic script with no exports.
import type { Mesh, MeshOptions, MeshStats } from './index.js';

export { MeshError } from './index.js';
export type { MeshErrorKind, MeshOptions, MeshStats } from './index.js';

/** Options of `startMeshSite`. Unknown options are refused (`config` error). */
export interface MeshSiteOptions {
  /** URL of the site's service worker script, which loads `mesh-loader/sw-worker.js` with
   * `importScripts`. Its query string sets the worker's `manifest` URL and `timeoutMs`. */
  serviceWorker: string | URL;
  /** The registration's scope (default: the script's directory). */
  scope?: string;
  /** `true`: every tab runs its own node and serves its own requests. Default `false`: the
   * tabs of the site elect one node (Web Locks) that serves them all. */
  nodePerTab?: boolean;
  /** Options of the node (`createMesh`), used by whichever tab leads. */
  mesh?: MeshOptions;
}

/** `leader`: this tab runs the node; `follower`: another tab's node serves this one. */
export type MeshSiteRole = 'leader' | 'follower' | 'closed';

export interface MeshSiteEventMap {
  /** This tab's role changed (a follower becomes the leader when the leader's tab closes). */
  role: CustomEvent<{ role: MeshSiteRole }>;
  /** (Followers) the leading tab's node is up. */
  leader: CustomEvent<{ peerId: string | null }>;
  warning: CustomEvent<{ message: string }>;
}

/** This tab's part of a site served through the mesh. */
export class MeshSite extends EventTarget {
  private constructor();
  readonly role: MeshSiteRole;
  /** This tab's node when it leads, else null. */
  readonly mesh: Mesh | null;
  /** The peer id of the node serving this tab (null until known). */
  readonly peerId: string | null;
  readonly registration: ServiceWorkerRegistration;
  /** The serving node's figures: this tab's, or the leader's. Rejects with `unavailable`
   * when no leader answers within 2 s. */
  stats(): Promise<MeshStats>;
  /** Stops this tab's node (another tab takes over) and its part in the election. */
  close(): Promise<void>;

  addEventListener<K extends keyof MeshSiteEventMap>(
    type: K,
    listener: (this: MeshSite, ev: MeshSiteEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends keyof MeshSiteEventMap>(
    type: K,
    listener: (this: MeshSite, ev: MeshSiteEventMap[K]) => unknown,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
}

/** Registers the site's service worker and joins the election of the site's node. Resolves
 * once this tab leads (its node is up) or follows. Rejects with `config` (bad options, the
 * worker script cannot be registered) or `unsupported` (no service workers or Web Locks). */
export function startMeshSite(options: MeshSiteOptions): Promise<MeshSite>;
