import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Injectable } from '@nestjs/common';
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

/**
 * The generated document and its page, made on the first request for either
 * rather than at start-up: scanning every controller costs start-up time
 * that most runs never need back.
 */
@Injectable()
export class ApiDocsService {
  private app: INestApplication | undefined;
  private built: { document: OpenApiDocument; page: string } | undefined;

  /** The application whose routes the document describes (startApp, before listening). */
  attach(app: INestApplication): void {
    this.app = app;
    this.built = undefined;
  }

  document(): OpenApiDocument {
    return this.build().document;
  }

  page(): string {
    return this.build().page;
  }

  private build(): { document: OpenApiDocument; page: string } {
    if (this.built) return this.built;
    if (!this.app) throw new Error('ApiDocsService.attach(app) was not called');
    const document = openApiDocument(this.app, packageVersion());
    this.built = { document, page: docsPage(document) };
    return this.built;
  }
}
