import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';

/** Tells people about a rollout outcome. */
export interface Notifier {
  notify(subject: string, message: string): Promise<void>;
}

/** SNS-backed Notifier for one topic; create once per Lambda container. */
export class SnsNotifier implements Notifier {
  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
  ) {}

  async notify(subject: string, message: string): Promise<void> {
    // SNS rejects subjects longer than 100 characters.
    await this.client.send(
      new PublishCommand({ TopicArn: this.topicArn, Subject: subject.slice(0, 100), Message: message }),
    );
  }
}
