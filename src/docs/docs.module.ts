import { Module } from '@nestjs/common';
import { ApiDocsService } from './api-docs.service';
import { DocsController } from './docs.controller';

/** The OpenAPI document and its page (issue #6), generated from the controllers (issue #14). */
@Module({ controllers: [DocsController], providers: [ApiDocsService], exports: [ApiDocsService] })
export class DocsModule {}
