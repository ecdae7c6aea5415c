import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A Parameter Store stand-in on loopback answering `GetParameter` (AWS JSON 1.1), for the scorer's registry reads. */
export interface LocalSsm {
  /** For `AWS_ENDPOINT_URL_SSM` or a client's `endpoint`. */
  readonly endpoint: string;
  /** Parameters by name; change them between runs as a rollout would. */
  readonly parameters: Map<string, string>;
  /** Names read so far, in order. */
  readonly reads: string[];
  close(): Promise<void>;
}

/** Starts the stand-in with the given parameters (name → String value). */
export async function startLocalSsm(parameters: Record<string, string>): Promise<LocalSsm> {
  const values = new Map(Object.entries(parameters));
  const reads: string[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const answer = (status: number, body: unknown): void => {
        response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        response.end(JSON.stringify(body));
      };
      if (request.headers['x-amz-target'] !== 'AmazonSSM.GetParameter') {
        answer(400, { __type: 'InvalidAction', message: `unsupported ${request.headers['x-amz-target']}` });
        return;
      }
      const { Name } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Name: string };
      reads.push(Name);
      const value = values.get(Name);
      if (value === undefined) answer(400, { __type: 'ParameterNotFound', message: Name });
      else answer(200, { Parameter: { Name, Type: 'String', Value: value, Version: 1 } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    parameters: values,
    reads,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The registry parameters of a stage whose active version is `artifact.version` (CONTRACTS.md, "Model registry"). */
export function registryParameters(
  prefix: string,
  artifact: { version: string; bucket: string; key: string; sha256: string },
): Record<string, string> {
  const { version, ...location } = artifact;
  return {
    [`${prefix}/active-version`]: version,
    [`${prefix}/versions/${version}`]: JSON.stringify({ version, status: 'baseline', artifact: location }),
  };
}
