import { queryShapeProblems } from './plain-query.middleware';

describe('queryShapeProblems', () => {
  it('accepts plain parameters, each once', () => {
    expect(queryShapeProblems('/iot/poll/a/?cursor=1&limit=5&event_types=data,status')).toEqual({});
  });

  it('names bracketed and repeated parameters by their plain name', () => {
    expect(Object.keys(queryShapeProblems('/p?cursor[]=1&limit[x]=2&wait=1&wait=2&ok=1'))).toEqual([
      'cursor',
      'limit',
      'wait',
    ]);
  });

  it("lets a list parameter repeat, as DT's client sends event_types, but not in brackets", () => {
    expect(queryShapeProblems('/iot/stream/_all/?event_types=data&event_types=command')).toEqual({});
    expect(Object.keys(queryShapeProblems('/iot/stream/_all/?event_types[]=data'))).toEqual(['event_types']);
  });

  it('reads the query of a path that is no URL (`//?…`, what `/\\/..` becomes), instead of failing with a 500', () => {
    expect(Object.keys(queryShapeProblems('//?last_event_id[a]=1&ok=1'))).toEqual(['last_event_id']);
  });

  it('reads encoded brackets as brackets', () => {
    expect(Object.keys(queryShapeProblems('/p?cursor%5B%5D=1'))).toEqual(['cursor']);
  });
});
