import { Controller, Get, Header } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { docsPage } from './docs-page';
import { openApiDocument } from './openapi.document';
import type { OpenApiDocument } from './openapi.types';

/** package.json sits two levels up both from src/docs and from dist/docs. */
function packageVersion(): string {
  try {
    return (
      (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version?: string }).version ??
      '0.0.0'
    );
  } catch {
    return '0.0.0';
  }
}

/** `/docs` (the page) and `/docs/openapi.json`; open like /health, they describe the API and hold no data. */
@Controller('docs')
export class DocsController {
  private readonly document = openApiDocument(packageVersion());
  private readonly page = docsPage(this.document);

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
  html(): string {
    return this.page;
  }

  @Get('openapi.json')
  json(): OpenApiDocument {
    return this.document;
  }
}
