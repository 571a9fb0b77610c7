/** Unit specs sit beside the code; end-to-end specs boot the real app (test/). */
const transform = {
  '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
  // ES-module-only packages (NestJS 12 and friends), see test/jest/esm-to-cjs.js.
  '^.+\\.m?js$': require('node:path').join(__dirname, 'test/jest/esm-to-cjs.js'),
};
const common = {
  testEnvironment: 'node',
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  transform,
  transformIgnorePatterns: ['/node_modules/(?!(@nestjs|@metered-ca|aedes|eventsource|eventsource-parser)/)'],
};

// The multi-instance suite needs Mosquitto, PostgreSQL and Redis; it is its own
// project, present when their URLs are set (.ci/run sets them), not a skipped test.
const clusterServices = ['MQTT_URL', 'DATABASE_URL', 'REDIS_URL'].every((name) => process.env[name]);

module.exports = {
  // End-to-end tests wait for events with their own deadlines; this is the outer bound.
  testTimeout: 30000,
  projects: [
    { ...common, displayName: 'unit', rootDir: 'src', testRegex: '\\.spec\\.ts$' },
    {
      ...common,
      displayName: 'e2e',
      rootDir: 'test',
      testRegex: '\\.e2e-spec\\.ts$',
      testPathIgnorePatterns: ['/cluster/'],
      testTimeout: 30000,
    },
    ...(clusterServices
      ? [
          {
            ...common,
            displayName: 'cluster',
            rootDir: 'test/cluster',
            testRegex: '\\.e2e-spec\\.ts$',
            testTimeout: 180000,
          },
        ]
      : []),
  ],
};
