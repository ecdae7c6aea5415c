import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SSMClient } from '@aws-sdk/client-ssm';
import { Logger } from '@aws-lambda-powertools/logger';
import { CONFIG_HELP, ConfigError, loadConfig } from './config';
import { createS3ObjectStore } from './adapters/object-store';
import { createDynamoPredictionsTable } from './adapters/predictions-table';
import { createS3ArtifactReader, createSsmModelRegistry } from './adapters/model-registry';
import { loadActiveModel } from './model-loader';
import { runScorer } from './scorer';

const HELP = `Batch scorer: loads the model version the stage's registry names active (its archive from S3,
SHA-256 checked against the registry) into this process with ONNX Runtime, streams the JSON-lines
objects of its shard under s3://$BATCH_BUCKET/pending/ through it, writes predictions (with that
version) to the DynamoDB table and to partitioned JSON lines for Athena, and moves each input to
processed/ (or failed/ with <key>.error.json). Lines it cannot score are listed with their reasons under
failed/<key>.rejected/. It never calls the real-time endpoint. Safe to re-run after a crash.

Usage: node main.js [--help]

Input lines: {"features": number[], "requestId"?: string}; features finite, |x| <= 2^53 - 1 and no
float32 underflow; requestId 1-128 characters of A-Z a-z 0-9 . _ : - (as POST /predict).

${CONFIG_HELP}
  S3_FORCE_PATH_STYLE path-style S3 URLs, for local S3 stand-ins only (default false)

Exit codes: 0 run finished (inputs that could not be processed are in failed/), 1 run failed
(configuration, registry, model archive or AWS error; unfinished inputs stay in pending/ for the next run),
2 unknown option.`;

async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const unknown = argv.find((arg) => arg !== '--help' && arg !== '-h');
  if (unknown !== undefined) {
    process.stderr.write(`Unknown option ${unknown}. Run with --help for usage.\n`);
    return 2;
  }
  const log = new Logger({ serviceName: 'batch-scorer' });
  try {
    const config = loadConfig(process.env);
    const s3 = new S3Client({ forcePathStyle: process.env.S3_FORCE_PATH_STYLE === 'true' });
    const { model, artifact } = await loadActiveModel(
      createSsmModelRegistry(new SSMClient({}), config.modelParameterPrefix),
      createS3ArtifactReader(s3),
      config.modelDir,
    );
    log.info('model loaded', {
      modelVersion: model.version,
      archive: `s3://${artifact.bucket}/${artifact.key}`,
    });
    const summary = await runScorer(config, {
      store: createS3ObjectStore(s3),
      table: createDynamoPredictionsTable(
        DynamoDBDocumentClient.from(new DynamoDBClient({}), {
          marshallOptions: { removeUndefinedValues: true },
        }),
        config.tableName,
      ),
      model,
      log,
    });
    if (summary.failed > 0) log.warn('some inputs were moved to failed/', { failed: summary.failed });
    return 0;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n\nRun with --help for the list of variables.\n`);
    } else {
      log.error('batch scorer failed; unfinished inputs stay in pending/ for the next run', error as Error);
    }
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
