import type { NestMiddleware } from '@nestjs/common';
import { Injectable } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { InvalidRequestError } from './domain-error';

/**
 * Every query parameter is one plain value (issue #18, item 7). Express 5
 * reads `cursor[]=1` as a parameter named `cursor[]` and `cursor=1&cursor=2`
 * as an array: an endpoint would ignore the first and might take the second
 * for something else, and a poll whose cursor was ignored moves the client's
 * stored position. So both are refused with a 400 naming the parameter,
 * before any endpoint sees them. A list parameter may repeat: DT's client
 * (and Python's `requests`) send `event_types=a&event_types=b` for a list.
 */
const LIST_PARAMETERS = new Set(['event_types']);

export function queryShapeProblems(url: string): Record<string, string> {
  const problems: Record<string, string> = {};
  const seen = new Set<string>();
  // Only the query is read: a path such as `//` (what `/\/..` becomes) is no URL, `new URL` throws on it.
  const query = url.indexOf('?');
  for (const key of new URLSearchParams(query < 0 ? '' : url.slice(query + 1)).keys()) {
    const bracket = key.indexOf('[');
    const name = bracket > 0 ? key.slice(0, bracket) : key;
    if (bracket >= 0 || (seen.has(key) && !LIST_PARAMETERS.has(key))) {
      problems[name] = `must be given once, as name=value (not ${name}[]= or a repeated ${name}=)`;
    }
    seen.add(key);
  }
  return problems;
}

@Injectable()
export class PlainQueryMiddleware implements NestMiddleware {
  use(req: Request, _res: Response, next: NextFunction): void {
    const problems = queryShapeProblems(req.originalUrl);
    if (Object.keys(problems).length > 0) throw new InvalidRequestError(problems);
    next();
  }
}
