import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { PoisonRecordMessage } from '../records';

/** The stream's dead-letter queue (the same SQS queue the event source mapping's on-failure destination uses). */
export interface DeadLetterQueue {
  send(message: PoisonRecordMessage): Promise<void>;
}

/** Dependencies of {@link createDeadLetterQueue}. */
export interface DeadLetterQueueOptions {
  /** Created once at cold start. */
  readonly client: SQSClient;
  /** `DLQ_URL`. */
  readonly queueUrl: string;
}

/** SQS implementation; a `type` attribute lets consumers of the queue tell poison records from ESM failure records. */
export function createDeadLetterQueue(options: DeadLetterQueueOptions): DeadLetterQueue {
  return {
    async send(message) {
      await options.client.send(
        new SendMessageCommand({
          QueueUrl: options.queueUrl,
          MessageBody: JSON.stringify(message),
          MessageAttributes: { type: { DataType: 'String', StringValue: message.type } },
        }),
      );
    },
  };
}
