import { Controller, Get, Param, Res } from '@nestjs/common';
import type { Response } from 'express';
import { DomainError, NotFoundError } from '../common/domain-error';
import { assetPath, dashboardDir } from './dashboard-assets';
import { AnswersContent, ApiDoc, ApiParam, ApiTags, Fails, NotFound } from '../docs/api-docs.decorators';

const HTML = { 'text/html': { schema: { type: 'string' as const } } };

/**
 * Everything the page loads comes from here: no CDN, and the browser talks
 * only to this service (connect-src 'self').
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "img-src 'self' data:",
  "style-src 'self'",
  "script-src 'self'",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

/**
 * The operator dashboard (issue #6): the page at `/` exactly and its assets
 * under `/dashboard/`, so it shadows none of `/api`, `/admin`, `/iot`, `/ws`,
 * `/v1`, `/health`, `/metrics`, `/docs` or `/mqtt`. The page reads its token
 * from `?token=` itself; serving it needs none (it holds no device data).
 */
@Controller()
@ApiTags('service')
export class DashboardController {
  @Get()
  @ApiDoc('dashboard', 'The operator dashboard (open it as `/?token=…`, the URL printed at start-up)')
  @AnswersContent(200, 'The page.', HTML)
  @Fails(503, 'Not built: run `npm run build`.')
  index(@Res() res: Response): void {
    this.send(res, 'index.html');
  }

  @Get('dashboard/:file')
  @ApiDoc('dashboardAsset', "The dashboard's scripts and styles")
  @ApiParam({ name: 'file', description: 'A built asset such as `app.js` or `app.css`.' })
  @AnswersContent(200, 'The asset.', undefined)
  @NotFound('asset')
  asset(@Param('file') file: string, @Res() res: Response): void {
    this.send(res, file);
  }

  private send(res: Response, name: string): void {
    const dir = dashboardDir();
    if (dir === undefined) {
      throw new DomainError('dashboard_not_built', 'The dashboard is not built: run `npm run build`', 503);
    }
    const path = assetPath(dir, name);
    if (path === undefined) throw new NotFoundError('not_found', `No dashboard asset ${name}`);
    res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    // Revalidated on each load (ETag), so a rebuilt dashboard is picked up at once.
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(path);
  }
}
