import type { MqttIdentity } from './topic-acl';
import { TopicAcl, filterCovers, isValidFilter, topicMatches } from './topic-acl';

const acl = new TopicAcl('things');
const device: MqttIdentity = {
  kind: 'device',
  username: 'weatherstation/ws-001',
  deviceType: 'weatherstation',
  deviceId: 'ws-001',
};
const gateway: MqttIdentity = {
  kind: 'gateway',
  username: 'site-a',
  topics: ['things/sensor/#', 'things/+/relay-1/cmd', 'site-a/status'],
};
const anonymous: MqttIdentity = { kind: 'anonymous' };

describe('topic filters', () => {
  it.each([
    ['a/b/c', 'a/b/c', true],
    ['a/+/c', 'a/b/c', true],
    ['a/+', 'a/b/c', false],
    ['a/#', 'a/b/c', true],
    ['a/#', 'a', true],
    ['#', 'a/b', true],
    ['#', '$SYS/x', false],
    ['+/x', '$SYS/x', false],
    ['$SYS/#', '$SYS/x', true],
    ['a/b', 'a/b/c', false],
    ['a/b/c', 'a/b', false],
  ])('%s matches %s: %s', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
  });

  it.each([
    ['things/sensor/#', 'things/sensor/+/data', true],
    ['things/sensor/#', 'things/sensor/#', true],
    ['things/sensor/#', 'things/sensor', true],
    ['things/sensor/#', 'things/#', false],
    ['things/sensor/#', 'things/+/s-1/data', false],
    ['things/+/relay-1/cmd', 'things/lamp/relay-1/cmd', true],
    ['things/+/relay-1/cmd', 'things/+/relay-1/cmd', true],
    ['things/+/relay-1/cmd', 'things/+/+/cmd', false],
    ['things/+/relay-1/cmd', 'things/+/relay-1/#', false],
    ['#', '$SYS/#', false],
  ])('%s covers %s: %s', (pattern, filter, expected) => {
    expect(filterCovers(pattern, filter)).toBe(expected);
  });

  it('accepts only well-formed filters', () => {
    for (const f of ['a/b', 'a/+/c', 'a/#', '#', '+', '+/+/#']) expect(isValidFilter(f)).toBe(true);
    for (const f of ['', 'a/#/c', 'a/b#', 'a+/b', 'a/\u0000']) expect(isValidFilter(f)).toBe(false);
  });
});

describe('TopicAcl', () => {
  it('lets a device publish only under its own topics', () => {
    expect(acl.canPublish(device, 'things/weatherstation/ws-001/data')).toBe(true);
    expect(acl.canPublish(device, 'things/weatherstation/ws-001/cmd/response')).toBe(true);
    expect(acl.canPublish(device, 'things/weatherstation/ws-002/data')).toBe(false);
    expect(acl.canPublish(device, 'things/weatherstation/ws-0011/data')).toBe(false);
    expect(acl.canPublish(device, 'things/camera/ws-001/data')).toBe(false);
    expect(acl.canPublish(device, 'things/weatherstation/ws-001')).toBe(false);
    expect(acl.canPublish(device, 'other/weatherstation/ws-001/data')).toBe(false);
  });

  it('lets a device subscribe only to its own cmd topic', () => {
    expect(acl.canSubscribe(device, 'things/weatherstation/ws-001/cmd')).toBe(true);
    expect(acl.canSubscribe(device, 'things/weatherstation/ws-002/cmd')).toBe(false);
    expect(acl.canSubscribe(device, 'things/weatherstation/+/cmd')).toBe(false);
    expect(acl.canSubscribe(device, 'things/weatherstation/ws-001/#')).toBe(false);
    expect(acl.canSubscribe(device, 'things/weatherstation/ws-001/data')).toBe(false);
    expect(acl.canSubscribe(device, '#')).toBe(false);
  });

  it('keeps a gateway within its patterns', () => {
    expect(acl.canPublish(gateway, 'things/sensor/s-9/data')).toBe(true);
    expect(acl.canPublish(gateway, 'site-a/status')).toBe(true);
    expect(acl.canPublish(gateway, 'things/camera/c-1/data')).toBe(false);
    expect(acl.canSubscribe(gateway, 'things/sensor/+/cmd')).toBe(true);
    expect(acl.canSubscribe(gateway, 'things/lamp/relay-1/cmd')).toBe(true);
    expect(acl.canSubscribe(gateway, 'things/+/+/cmd')).toBe(false);
    expect(acl.canSubscribe(gateway, '#')).toBe(false);
  });

  it('lets anonymous clients (DEVICE_AUTH=off) do anything but publish under $-topics', () => {
    expect(acl.canPublish(anonymous, 'things/x/y/data')).toBe(true);
    expect(acl.canSubscribe(anonymous, '#')).toBe(true);
    for (const who of [anonymous, device, gateway]) expect(acl.canPublish(who, '$SYS/broker/x')).toBe(false);
  });

  it('binds a client id to its identity: no client can take over the session of another', () => {
    expect(acl.ownsClientId(device, 'weatherstation/ws-001')).toBe(true);
    for (const other of ['weatherstation/ws-002', 'weatherstation/ws-0011', 'weatherstation', 'mqttjs_1a2b', 'site-a'])
      expect(acl.ownsClientId(device, other)).toBe(false);
    expect(acl.ownsClientId(gateway, 'site-a')).toBe(true);
    expect(acl.ownsClientId(gateway, 'site-a/ws-001')).toBe(false);
    expect(acl.ownsClientId(gateway, 'weatherstation/ws-001')).toBe(false);
    expect(acl.ownsClientId(anonymous, 'anything')).toBe(true);
  });
});
