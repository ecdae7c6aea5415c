/** Name of the role in a stage account that may only read that stage's model registry. */
export function registryReaderRoleName(project: string, stageName: string): string {
  return `${project}-${stageName}-registry-reader`;
}
