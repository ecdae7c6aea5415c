import { createObservability } from '../services/inference/runtime';
import { createPredictHandler } from '../services/inference/predict-handler';
import type { APIGatewayProxyEvent } from 'aws-lambda';

/**
 * Runs the real predict handler warm, with the model, table and Parameter Store replaced by
 * in-memory answers, and reports per-call overhead to stderr as JSON. Bundled and run in a child
 * process by bench/predict.ts (its stdout, which carries the EMF metrics, is discarded there).
 */
async function main(iterations: number): Promise<void> {
  const { logger, metrics } = createObservability('predict');
  const handler = createPredictHandler({
    logger,
    metrics,
    parameters: {
      inputSchema: async () => ({ task: 'classification', featureCount: 4, versions: ['v1.0.0'] }),
    },
    model: {
      score: async () => ({
        modelVersion: 'v1.0.0',
        variant: 'VariantA',
        predictions: [{ label: 'a', probabilities: [0.9, 0.05, 0.05] }],
      }),
    },
    store: { get: async () => undefined, putIfAbsent: async (item) => ({ created: true, item }) },
  });
  const event = {
    body: JSON.stringify({ features: [5.1, 3.5, 1.4, 0.2] }),
    headers: { 'content-type': 'application/json' },
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEvent;
  const samples: number[] = [];
  for (let i = 0; i < iterations + 1000; i++) {
    const start = process.hrtime.bigint();
    const result = await handler(event);
    const micros = Number(process.hrtime.bigint() - start) / 1000;
    if (result.statusCode !== 200) throw new Error(`handler answered ${result.statusCode}: ${result.body}`);
    if (i >= 1000) samples.push(micros);
  }
  samples.sort((a, b) => a - b);
  const at = (p: number) => samples[Math.min(samples.length - 1, Math.ceil(p * samples.length) - 1)];
  process.stderr.write(`${JSON.stringify({ iterations, p50: at(0.5), p99: at(0.99) })}\n`);
}

main(Number(process.argv[2] ?? 20000)).catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
