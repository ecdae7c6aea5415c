import { inputSchemaOf, parseInputSchema } from '../../services/inference/input-schema';

describe('inputSchemaOf', () => {
  it('is the task and width both deployed versions share, naming each version once', () => {
    expect(
      inputSchemaOf([
        { version: 'v3.0.0', task: 'regression', featureCount: 6 },
        { version: 'v3.1.0', task: 'regression', featureCount: 6 },
      ]),
    ).toEqual({ task: 'regression', featureCount: 6, versions: ['v3.0.0', 'v3.1.0'], labels: [] });
    expect(
      inputSchemaOf([
        { version: 'v3.1.0', task: 'classification', featureCount: 8 },
        { version: 'v3.1.0', task: 'classification', featureCount: 8 },
      ]).versions,
    ).toEqual(['v3.1.0']);
  });

  it("lists every class either classifier answers, the baseline's order first", () => {
    expect(
      inputSchemaOf([
        { version: 'v3.0.0', task: 'classification', featureCount: 8, labels: ['no', 'yes'] },
        { version: 'v3.1.0', task: 'classification', featureCount: 8, labels: ['yes', 'no', 'maybe'] },
      ]).labels,
    ).toEqual(['no', 'yes', 'maybe']);
  });

  it('refuses versions that differ in width or task, naming both', () => {
    expect(() =>
      inputSchemaOf([
        { version: 'v1.2.0', task: 'classification', featureCount: 4 },
        { version: 'v2.0.0', task: 'classification', featureCount: 8 },
      ]),
    ).toThrow('Model versions v1.2.0 (classification, 4 features) and v2.0.0 (classification, 8 features)');
    expect(() =>
      inputSchemaOf([
        { version: 'v1.2.0', task: 'classification', featureCount: 6 },
        { version: 'v2.0.0', task: 'regression', featureCount: 6 },
      ]),
    ).toThrow(/v2\.0\.0 \(regression, 6 features\) cannot serve one endpoint/);
  });
});

describe('parseInputSchema', () => {
  const name = '/p/dev/model/input-schema';

  it('reads the document the stage writes', () => {
    const schema = { task: 'classification', featureCount: 6, versions: ['v3.0.0'], labels: ['a', 'b'] };
    expect(parseInputSchema(name, schema)).toEqual(schema);
    // A document written before classes were listed counts only the predicted class.
    expect(parseInputSchema(name, { ...schema, labels: undefined }).labels).toEqual([]);
  });

  it.each([
    [{ featureCount: 6, versions: [] }, 'task must be "classification" or "regression"'],
    [{ task: 'regression', featureCount: 0, versions: [] }, 'featureCount must be a positive integer'],
    [{ task: 'regression', featureCount: 6, versions: [6] }, 'versions must be an array of version names'],
    [undefined, 'task must be'],
  ])('refuses %j, naming the parameter and the field', (document, problem) => {
    expect(() => parseInputSchema(name, document)).toThrow(`${name}: ${problem}`);
  });
});
