import {
  DescribeEndpointCommand,
  SageMakerClient,
  UpdateEndpointWeightsAndCapacitiesCommand,
} from '@aws-sdk/client-sagemaker';

/** An endpoint's status and the current weight of each variant. */
export interface EndpointState {
  readonly status: string;
  readonly weights: Readonly<Record<string, number>>;
}

/** Reads and shifts variant weights; the rollout's only write to the endpoint. */
export interface EndpointWeights {
  describe(endpointName: string): Promise<EndpointState>;
  /** Starts a weight shift; the endpoint is `Updating` until it is in service again. */
  setWeights(endpointName: string, weights: Readonly<Record<string, number>>): Promise<void>;
}

/** SageMaker-backed EndpointWeights; create once per Lambda container. */
export class SageMakerEndpointWeights implements EndpointWeights {
  constructor(private readonly client: SageMakerClient) {}

  async describe(endpointName: string): Promise<EndpointState> {
    const endpoint = await this.client.send(new DescribeEndpointCommand({ EndpointName: endpointName }));
    const weights: Record<string, number> = {};
    for (const variant of endpoint.ProductionVariants ?? []) {
      if (variant.VariantName) weights[variant.VariantName] = variant.CurrentWeight ?? 0;
    }
    return { status: endpoint.EndpointStatus ?? 'Unknown', weights };
  }

  async setWeights(endpointName: string, weights: Readonly<Record<string, number>>): Promise<void> {
    await this.client.send(
      new UpdateEndpointWeightsAndCapacitiesCommand({
        EndpointName: endpointName,
        DesiredWeightsAndCapacities: Object.entries(weights).map(([VariantName, DesiredWeight]) => ({
          VariantName,
          DesiredWeight,
        })),
      }),
    );
  }
}
