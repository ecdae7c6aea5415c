import { Stack, type StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { DataStore } from './data/data-store';

/** Properties of {@link DataStack}. */
export interface DataStackProps extends StackProps {
  /** Keep stateful resources on delete (prod). */
  readonly retainData: boolean;
  /** Days logs and captured data are kept. */
  readonly dataRetentionDays: number;
}

/** Stateful resources of a stage, apart from everything that can be rebuilt from code. */
export class DataStack extends Stack {
  /** Key, buckets and predictions table. */
  readonly data: DataStore;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, props);
    this.data = new DataStore(this, 'Store', {
      retainData: props.retainData,
      dataRetentionDays: props.dataRetentionDays,
    });
  }
}
