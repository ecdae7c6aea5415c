/** Where the build keeps a stage's evaluation report, relative to the cloud assembly (cdk.out). */
export function qualityReportFile(stage: string): string {
  return `quality/${stage}.json`;
}
