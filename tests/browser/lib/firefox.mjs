// Headless Firefox (Debian's firefox-esr) driven from Node over the W3C WebDriver HTTP protocol,
// through geckodriver (installed by scripts/setup.sh from crates.io). Playwright cannot drive a
// stock Firefox (it needs its own patched build, which cannot be downloaded here), and the few
// WebDriver commands the tests need — new session, navigate, run a script, close — are plain
// JSON over HTTP, so Node's fetch speaks them without a client library.
//
// Tab-to-tab WebRTC on loopback (inside the `unshare -n` namespace the calling script makes)
// needs the prefs in FIREFOX_WEBRTC_PREFS: Firefox leaves loopback addresses out of ICE
// gathering and hides host addresses behind mDNS names unless told otherwise.
import { startProcess } from './harness.mjs';

/** geckodriver to start: $GECKODRIVER, else the one on PATH. */
export const GECKODRIVER = process.env.GECKODRIVER ?? 'geckodriver';
/** Firefox to drive: $FIREFOX, default Debian's firefox-esr. */
export const FIREFOX = process.env.FIREFOX ?? '/usr/bin/firefox-esr';
/**
 * What a page needs to gather 127.0.0.1 host candidates and use them: loopback in ICE, host
 * addresses as they are (not mDNS names, which nothing resolves in the namespace). The same
 * prefs are in crates/mesh-wasm/webdriver.json and crates/mesh-webrtc/webdriver.json for
 * `wasm-pack test --firefox`.
 */
export const FIREFOX_WEBRTC_PREFS = {
  'media.peerconnection.ice.loopback': true,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  // The page's console on Firefox's stdout, so it lands in the geckodriver log.
  'devtools.console.stdout.content': true,
};

/**
 * Starts geckodriver on a free port and one headless Firefox session through it. Resolves with
 * a Firefox whose methods send WebDriver commands; `quit()` ends the session and geckodriver.
 * geckodriver's output and the page's console go to `logFile`.
 */
export async function launchFirefox({ logFile, prefs = FIREFOX_WEBRTC_PREFS } = {}) {
  const driver = await startProcess(GECKODRIVER, ['--port', '0', '--log', 'info'], {
    ready: /Listening on (\S+)/, name: 'geckodriver', logFile,
  });
  const base = `http://${driver.match[1]}`;
  try {
    const { sessionId } = await command(base, 'POST', '/session', {
      capabilities: {
        alwaysMatch: {
          browserName: 'firefox',
          'moz:firefoxOptions': { binary: FIREFOX, args: ['-headless'], prefs },
        },
      },
    });
    return new Firefox(`${base}/session/${sessionId}`, driver);
  } catch (e) {
    await driver.stop();
    throw e;
  }
}

/** One WebDriver command; resolves with its `value`, rejects with WebDriver's error message. */
async function command(base, method, path, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const { value } = await res.json();
  if (!res.ok || value?.error) {
    throw new Error(`WebDriver ${method} ${path}: ${value?.error ?? res.status}: ${value?.message ?? ''}`);
  }
  return value;
}

export class Firefox {
  constructor(session, driver) {
    this.session = session;
    this.driver = driver;
  }

  #send(method, path, body) {
    return command(this.session, method, path, body);
  }

  /** Loads `url` in the session's window (resolves once the document loaded). */
  goto(url) {
    return this.#send('POST', '/url', { url });
  }

  /**
   * Runs `fn(arg)` in the page and resolves with what its promise resolves to (JSON values);
   * rejects with the page's error message. Like Playwright's page.evaluate, so one function
   * can be handed to either browser. Bounded by `timeoutMs`.
   */
  async evaluate(fn, arg, { timeoutMs = 120_000 } = {}) {
    await this.#send('POST', '/timeouts', { script: timeoutMs });
    const script = `const done = arguments[arguments.length - 1];
      Promise.resolve().then(() => (${fn})(arguments[0]))
        .then((value) => done({ ok: value === undefined ? null : value }),
          (e) => done({ error: String(e && e.stack ? e.stack : e) }));`;
    const result = await this.#send('POST', '/execute/async', { script, args: [arg ?? null] });
    if (result.error) throw new Error(`in Firefox: ${result.error}`);
    return result.ok;
  }

  /** Ends the session (Firefox exits) and stops geckodriver. */
  async quit() {
    await this.#send('DELETE', '').catch(() => {});
    await this.driver.stop();
  }
}
