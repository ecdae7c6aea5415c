import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';

/** Records a model version's rollout outcome (promoted / rejected) where later deploys can read it. */
export interface VersionStatusStore {
  putStatus(parameterName: string, value: string): Promise<void>;
}

/** Parameter Store-backed VersionStatusStore; create once per Lambda container. */
export class SsmVersionStatusStore implements VersionStatusStore {
  constructor(private readonly client: SSMClient) {}

  async putStatus(parameterName: string, value: string): Promise<void> {
    await this.client.send(
      new PutParameterCommand({ Name: parameterName, Value: value, Type: 'String', Overwrite: true }),
    );
  }
}
