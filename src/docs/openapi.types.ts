/**
 * The parts of OpenAPI 3.1 this service's document uses, as @nestjs/swagger
 * generates them (openapi.document.ts), typed for the page and the tests.
 */
export interface OpenApiDocument {
  openapi: '3.1.0';
  info: { title: string; version: string; description?: string };
  tags?: { name: string; description?: string }[];
  paths: Record<string, PathItem>;
  components: { schemas: Record<string, Schema>; securitySchemes: Record<string, SecurityScheme> };
}

export type Method = 'get' | 'put' | 'post' | 'delete' | 'patch';
export const METHODS: readonly Method[] = ['get', 'put', 'post', 'delete', 'patch'];

export type PathItem = Partial<Record<Method, Operation>> & { parameters?: Parameter[] };

export interface Operation {
  tags?: string[];
  summary: string;
  description?: string;
  operationId: string;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema; example?: unknown }> };
  responses: Record<string, Response>;
  /** Absent for open endpoints; otherwise the schemes that are accepted (any one). */
  security?: Record<string, string[]>[];
}

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  description?: string;
  schema: Schema;
  example?: unknown;
}

export interface Response {
  description: string;
  content?: Record<string, { schema: Schema; example?: unknown }>;
  headers?: Record<string, { description: string; schema: Schema }>;
}

export interface Schema {
  $ref?: string;
  type?: SchemaType | SchemaType[];
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  enum?: (string | number | boolean | null)[];
  oneOf?: Schema[];
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  maxLength?: number;
  default?: unknown;
  example?: unknown;
}

export type SchemaType = 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean' | 'null';

export type SecurityScheme =
  | { type: 'http'; scheme: 'bearer'; bearerFormat?: string; description?: string }
  | { type: 'apiKey'; in: 'query' | 'header' | 'cookie'; name: string; description?: string };
