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
// The fault project restarts the machine's PostgreSQL and Redis: present only when asked for
// (FAULT_TESTS=restart-services, with the three URLs), and run alone, in band, after every other
// suite (.ci/run's last step), because whatever else runs beside it loses its database mid-test.
// Suites that run the service on the embedded defaults whatever the URLs say (their own environment or
// explicit overrides): the integration run (`npm run test:integration`) leaves them out, as they would
// run exactly as in the embedded run.
const embeddedOnly = [
  'dashboard-startup', // runService with its own environment
  'observability-logs', // runService with its own environment
  'start-script', // a throwaway project, no service
  'startup', // runService with its own environment
  'writer-thread-kill', // the SQLite writer thread exists on a SQLite file only
].map((name) => `/${name}\\.e2e-spec\\.ts$`);
// The operator console's browser suites: what they prove is the pages (layout, filters, forms), drawn
// from REST answers that the API suites check on both backends; run once, on the embedded defaults.
const pages = ['console-browser', 'dashboard-browser', 'signalling-devices-browser'].map(
  (name) => `/${name}\\.e2e-spec\\.ts$`,
);
const integrationRun = process.env.E2E_SKIP_EMBEDDED_ONLY === '1';
const faultTests = clusterServices && process.env.FAULT_TESTS === 'restart-services';

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
      testPathIgnorePatterns: ['/cluster/', '/fault/', ...(integrationRun ? [...embeddedOnly, ...pages] : [])],
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
    ...(faultTests
      ? [
          {
            ...common,
            displayName: 'fault',
            rootDir: 'test/fault',
            testRegex: '\\.e2e-spec\\.ts$',
            testTimeout: 90000,
          },
        ]
      : []),
  ],
};
