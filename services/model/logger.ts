/** Severity of a log line. */
export type LogLevel = 'info' | 'warn' | 'error';

/** Structured logger: one event, a message and fields. */
export type Logger = (level: LogLevel, message: string, fields?: Readonly<Record<string, unknown>>) => void;

/** Drops every line; the default for servers started by tests and benchmarks. */
export const silentLogger: Logger = () => undefined;

/** Writes one JSON object per line (CloudWatch Logs parses them) to the given stream. */
export function jsonLineLogger(stream: NodeJS.WritableStream, now: () => Date = () => new Date()): Logger {
  return (level, message, fields) => {
    stream.write(JSON.stringify({ time: now().toISOString(), level, message, ...fields }) + '\n');
  };
}
