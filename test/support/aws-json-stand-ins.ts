import { createHash, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Minimal loopback stand-ins for the AWS JSON-protocol operations the handlers
 * call and no installed local server provides: SSM `GetParameter` (to prove the
 * parameter cache) and SQS `SendMessage`/`SendMessageBatch` (the DLQ). The real
 * SDK clients talk to them via `AWS_ENDPOINT_URL_SSM` / `AWS_ENDPOINT_URL_SQS`.
 */

export type Operation = (input: Record<string, unknown>) => { status: number; body: unknown };

interface JsonStandIn {
  readonly url: string;
  readonly calls: { readonly target: string; readonly input: Record<string, unknown> }[];
  close(): Promise<void>;
}

async function startJsonStandIn(operations: Record<string, Operation>): Promise<JsonStandIn> {
  const calls: { target: string; input: Record<string, unknown> }[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
      const input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      calls.push({ target, input });
      const operation = operations[target];
      const { status, body } = operation
        ? operation(input)
        : { status: 400, body: { __type: 'UnknownOperationException', message: target } };
      res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An SSM stand-in serving a fixed set of String parameters. */
export interface SsmStandIn extends JsonStandIn {
  /** Number of `GetParameter` calls received. */
  getParameterCalls(): number;
}

/** Starts an SSM stand-in with `parameters` (name → value). */
export async function startSsmStandIn(parameters: Readonly<Record<string, string>>): Promise<SsmStandIn> {
  const standIn = await startJsonStandIn({
    GetParameter: (input) => {
      const name = String(input.Name);
      const value = parameters[name];
      return value === undefined
        ? { status: 400, body: { __type: 'ParameterNotFound', message: `${name} not found` } }
        : { status: 200, body: { Parameter: { Name: name, Type: 'String', Value: value, Version: 1 } } };
    },
  });
  return {
    ...standIn,
    getParameterCalls: () => standIn.calls.filter((c) => c.target === 'GetParameter').length,
  };
}

/** An SQS stand-in holding every message sent to any queue URL. */
export interface SqsStandIn extends JsonStandIn {
  /** Message bodies received, in order. */
  messages(): string[];
  /** Makes the next `count` sends fail with a 500, to test retries. */
  failNext(count: number): void;
}

/** Starts an SQS stand-in (AWS JSON 1.0 protocol, as SDK v3 speaks to SQS). */
export async function startSqsStandIn(): Promise<SqsStandIn> {
  const received: string[] = [];
  let failures = 0;
  const accept = (body: string) => {
    received.push(body);
    return { MessageId: randomUUID(), MD5OfMessageBody: createHash('md5').update(body).digest('hex') };
  };
  const failing = () =>
    failures > 0
      ? (failures--, { status: 500, body: { __type: 'InternalError', message: 'injected' } })
      : undefined;
  const standIn = await startJsonStandIn({
    SendMessage: (input) => failing() ?? { status: 200, body: accept(String(input.MessageBody)) },
    SendMessageBatch: (input) =>
      failing() ?? {
        status: 200,
        body: {
          Successful: (input.Entries as { Id: string; MessageBody: string }[]).map((entry) => ({
            Id: entry.Id,
            ...accept(entry.MessageBody),
          })),
          Failed: [],
        },
      },
  });
  return {
    ...standIn,
    messages: () => [...received],
    failNext: (count) => {
      failures = count;
    },
  };
}

/**
 * A CloudWatch stand-in (JSON 1.0 protocol) with fixed alarm states; GetMetricData answers no data
 * unless `getMetricData` answers it (e.g. `SageMakerMetrics.answer`).
 */
export interface CloudWatchStandIn extends JsonStandIn {
  /** Every `PutMetricData` input received. */
  putMetricData(): Record<string, unknown>[];
}

/** Starts a CloudWatch stand-in: `DescribeAlarms` answers `alarms` (name → state). */
export async function startCloudWatchStandIn(
  alarms: Readonly<Record<string, string>> = {},
  getMetricData?: Operation,
): Promise<CloudWatchStandIn> {
  const standIn = await startJsonStandIn({
    PutMetricData: () => ({ status: 200, body: {} }),
    DescribeAlarms: (input) => ({
      status: 200,
      body: {
        MetricAlarms: ((input.AlarmNames as string[] | undefined) ?? [])
          .filter((name) => alarms[name] !== undefined)
          .map((name) => ({ AlarmName: name, StateValue: alarms[name] })),
      },
    }),
    GetMetricData: getMetricData ?? (() => ({ status: 200, body: { MetricDataResults: [] } })),
  });
  return {
    ...standIn,
    putMetricData: () => standIn.calls.filter((c) => c.target === 'PutMetricData').map((c) => c.input),
  };
}
