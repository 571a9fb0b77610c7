import { Controller, Get, Header } from '@nestjs/common';
import { Answers, AnswersContent, ApiDoc, ApiTags } from './api-docs.decorators';
import { ApiDocsService } from './api-docs.service';
import type { OpenApiDocument } from './openapi.types';

const HTML = { 'text/html': { schema: { type: 'string' as const } } };

/** `/docs` (the page) and `/docs/openapi.json`; open like /health, they describe the API and hold no data. */
@Controller('docs')
@ApiTags('service')
export class DocsController {
  constructor(private readonly docs: ApiDocsService) {}

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
  @ApiDoc('docsPage', 'This document as a page')
  @AnswersContent(200, 'The page.', HTML)
  html(): string {
    return this.docs.page();
  }

  @Get('openapi.json')
  @ApiDoc('openApiDocument', 'This document (OpenAPI 3.1)')
  @Answers(200, 'The document.', { type: 'object' })
  json(): OpenApiDocument {
    return this.docs.document();
  }
}
