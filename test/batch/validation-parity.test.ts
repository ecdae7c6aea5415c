import { parseLine } from '../../services/batch/input';
import { validateRequestObject } from '../../services/inference/validation';

/**
 * One input rule for every path into the model and the table: a line the batch scorer refuses is a
 * request `POST /predict` refuses, and the other way round. The API is asked with the row's own length
 * as the model's feature count, since the batch scorer leaves the width to the model.
 */
const sharedCases: readonly (readonly [string, string])[] = [
  ['plain row', '{"features":[5.1,3.5,1.4,0.2]}'],
  ['zero and negative zero', '{"features":[0,-0,0.0,1]}'],
  ['integers at ±(2^53 − 1)', '{"features":[9007199254740991,-9007199254740991,1,2]}'],
  ['smallest normal float32', '{"features":[1.1754943508222875e-38,1,1,1]}'],
  ['float32 subnormal', '{"features":[1e-39,1.401298464324817e-45,1,1]}'],
  ['string feature', '{"features":[5.1,"3.5",1.4,0.2]}'],
  ['null feature', '{"features":[5.1,null,1.4,0.2]}'],
  ['nested array', '{"features":[[5.1],3.5,1.4,0.2]}'],
  ['features not an array', '{"features":"5.1,3.5"}'],
  ['no features', '{"requestId":"a"}'],
  ['array body', '[5.1,3.5,1.4,0.2]'],
  ['requestId with allowed punctuation', '{"features":[1,2,3,4],"requestId":"a.b_c:d-9"}'],
  ['requestId of 128 characters', `{"features":[1,2,3,4],"requestId":"${'r'.repeat(128)}"}`],
  ['requestId of 129 characters', `{"features":[1,2,3,4],"requestId":"${'r'.repeat(129)}"}`],
  ['empty requestId', '{"features":[1,2,3,4],"requestId":""}'],
  ['requestId with a space', '{"features":[1,2,3,4],"requestId":"a b"}'],
  ['requestId with a slash', '{"features":[1,2,3,4],"requestId":"a/b"}'],
  ['requestId with non-ASCII', '{"features":[1,2,3,4],"requestId":"é"}'],
  ['numeric requestId', '{"features":[1,2,3,4],"requestId":7}'],
];

/** Numbers the model (float32) or the table (DynamoDB through lib-dynamodb) cannot take exactly. */
const numericRangeCases: readonly (readonly [string, string])[] = [
  ['1e16', '{"features":[1e16,1,1,1]}'],
  ['2^53', '{"features":[9007199254740992,1,1,1]}'],
  ['-2^53', '{"features":[-9007199254740992,1,1,1]}'],
  ['1e-200 (underflow)', '{"features":[1e-200,1,1,1]}'],
  ['1e-46 (rounds to 0 in float32)', '{"features":[1e-46,1,1,1]}'],
  ['3.5e38 (beyond float32)', '{"features":[3.5e38,1,1,1]}'],
  ['1e39', '{"features":[1e39,1,1,1]}'],
  ['1e300', '{"features":[1e300,1,1,1]}'],
];

function outcomes(line: string): { api: boolean; batch: boolean } {
  const value = JSON.parse(line) as { features?: unknown };
  const width = Array.isArray(value?.features) ? value.features.length : 4;
  return {
    api: validateRequestObject(value, { featureCount: width }).ok,
    batch: !('reason' in parseLine(line, 1)),
  };
}

test.each(sharedCases)('API and batch scorer agree: %s', (_name, line) => {
  const { api, batch } = outcomes(line);
  expect(batch).toBe(api);
});

test.each(numericRangeCases)('batch scorer refuses a number it cannot score and store: %s', (_name, line) => {
  expect(outcomes(line).batch).toBe(false);
});

test.each(numericRangeCases)('API and batch scorer agree on out-of-range numbers: %s', (_name, line) => {
  const { api, batch } = outcomes(line);
  expect(api).toBe(batch);
});
