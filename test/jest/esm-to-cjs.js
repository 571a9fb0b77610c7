/**
 * NestJS 12 ships as ES modules only. Jest on Node 20 cannot require() ES
 * modules (Node can, Jest's module runtime cannot before Node 24.9), so the
 * ESM packages under node_modules are turned into CommonJS for the tests.
 * `import.meta.url` becomes the file's URL, which is all NestJS uses it for
 * (createRequire of optional packages), and a module's own
 * `const require = createRequire(...)` gives way to CommonJS's require.
 */
const babelJest = require('babel-jest').default;

function importMetaUrl({ types: t }) {
  return {
    visitor: {
      // `const require = createRequire(import.meta.url)` shadows the CommonJS
      // require the module will have; drop it and use the real one.
      VariableDeclarator(path) {
        const { id, init } = path.node;
        if (t.isIdentifier(id, { name: 'require' }) && t.isCallExpression(init) && t.isIdentifier(init.callee, { name: 'createRequire' })) {
          path.remove();
        }
      },
      MetaProperty(path) {
        if (path.node.meta.name !== 'import' || path.node.property.name !== 'meta') return;
        path.replaceWith(
          t.objectExpression([
            t.objectProperty(
              t.identifier('url'),
              t.memberExpression(
                t.callExpression(t.memberExpression(t.callExpression(t.identifier('require'), [t.stringLiteral('node:url')]), t.identifier('pathToFileURL')), [t.identifier('__filename')]),
                t.identifier('href'),
              ),
            ),
            t.objectProperty(t.identifier('dirname'), t.identifier('__dirname')),
            t.objectProperty(t.identifier('filename'), t.identifier('__filename')),
          ]),
        );
      },
    },
  };
}

const transformer = babelJest.createTransformer({
  babelrc: false,
  configFile: false,
  // The flag makes the CommonJS transform turn `import()` into require() too (NestJS loads its HTTP adapter that way).
  plugins: [importMetaUrl, () => ({ pre() { this.file.set('@babel/plugin-proposal-dynamic-import', '7.0.0'); } }), '@babel/plugin-transform-modules-commonjs'],
});
// Jest caches transformed files; this file's own text is part of the key so an edit here takes effect.
const ownKey = require('node:crypto').createHash('sha1').update(require('node:fs').readFileSync(__filename)).digest('hex');

module.exports = {
  ...transformer,
  getCacheKey: (...args) => transformer.getCacheKey(...args) + ownKey,
  getCacheKeyAsync: async (...args) => (await transformer.getCacheKeyAsync(...args)) + ownKey,
};
