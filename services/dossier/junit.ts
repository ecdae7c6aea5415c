/** Reads the smoke test's JUnit XML (services/smoke `junitXml`, or any JUnit file CodeBuild accepts). */

/** One check of the smoke test. */
export interface SmokeCheck {
  readonly name: string;
  readonly passed: boolean;
  readonly seconds: number;
  /** The failure message, or the check's output when it passed. */
  readonly detail: string;
}

/** The smoke test's report. */
export interface SmokeReport {
  readonly suite: string;
  readonly timestamp: string | null;
  readonly checks: readonly SmokeCheck[];
  readonly passed: number;
  readonly failed: number;
  readonly seconds: number;
}

/** Thrown for a file that is not a JUnit report. */
export class JunitError extends Error {
  override readonly name = 'JunitError';
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const unescapeXml = (s: string): string =>
  s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, e: string) =>
    e.startsWith('#x') || e.startsWith('#X')
      ? String.fromCodePoint(parseInt(e.slice(2), 16))
      : e.startsWith('#')
        ? String.fromCodePoint(parseInt(e.slice(1), 10))
        : ENTITIES[e.toLowerCase()],
  );

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([\w:-]+)\s*=\s*("([^"]*)"|'([^']*)')/g))
    out[m[1]] = unescapeXml(m[3] ?? m[4]);
  return out;
}

const text = (s: string): string => unescapeXml(s.replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, '$1')).trim();

/** Parses a JUnit XML report into its checks: a test case passes unless it has a failure or error. */
export function parseJunit(xml: string): SmokeReport {
  const suiteTag = /<testsuite\b([^>]*)>/.exec(xml);
  if (!suiteTag && !/<testcase\b/.test(xml)) throw new JunitError('no <testsuite> or <testcase> element');
  const suite = suiteTag ? attributes(suiteTag[1]) : {};
  const checks: SmokeCheck[] = [];
  for (const m of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const attrs = attributes(m[1]);
    const body = m[3] ?? '';
    const failure = /<(failure|error)\b([^>]*?)(\/>|>([\s\S]*?)<\/\1>)/.exec(body);
    const out = /<system-out>([\s\S]*?)<\/system-out>/.exec(body);
    const seconds = Number(attrs.time ?? 0);
    checks.push({
      name: attrs.name ?? '(unnamed)',
      passed: !failure,
      seconds: Number.isFinite(seconds) ? seconds : 0,
      detail: failure ? attributes(failure[2]).message || text(failure[4] ?? '') : out ? text(out[1]) : '',
    });
  }
  const failed = checks.filter((c) => !c.passed).length;
  return {
    suite: suite.name ?? 'smoke',
    timestamp: suite.timestamp ?? null,
    checks,
    passed: checks.length - failed,
    failed,
    seconds: Number(suite.time ?? checks.reduce((s, c) => s + c.seconds, 0)),
  };
}
