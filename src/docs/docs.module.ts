import { Module } from '@nestjs/common';
import { DocsController } from './docs.controller';

/** The OpenAPI document and its page (issue #6). */
@Module({ controllers: [DocsController] })
export class DocsModule {}
