import { Injectable } from '@nestjs/common';
import { TokenService } from '../auth/token.service';
import { DomainError } from '../common/domain-error';
import { DeviceTypes } from '../config/device-types';
import { DeviceChannels } from '../devices/device-channels';
import { DeviceIngestService } from '../devices/device-ingest.service';
import { MAX_ID_LENGTH } from './channel-rules';
import { devicePeerId } from './device-peer-id';

/** A minted device or gateway token, with what it may use. */
export interface DeviceToken {
  token: string;
  expiresAt: number;
  peerId: string;
  channels: string[];
}

/**
 * Signalling tokens for devices and gateways (issue #15). A device's peer id
 * is `{type}/{id}` and its channels are its own (standard and mapped); a
 * gateway's are the patterns it was given. Both may publish and subscribe,
 * and their role holds them to the device direction (DeviceChannelsService).
 */
@Injectable()
export class DeviceTokensService {
  constructor(
    private readonly tokens: TokenService,
    private readonly channels: DeviceChannels,
    private readonly deviceTypes: DeviceTypes,
    private readonly devices: DeviceIngestService,
  ) {}

  /** A device the bridge has not heard of becomes known, `provisioning`, as when its MQTT credentials are minted. */
  async mintDevice(deviceType: string, deviceId: string, expiresInSec: number): Promise<DeviceToken> {
    if (!this.deviceTypes.isAccepted(deviceType))
      throw new DomainError(
        'undeclared_type',
        `Device type ${deviceType} is not declared and undeclared types are refused`,
      );
    const peerId = devicePeerId(deviceType, deviceId);
    if (peerId.length > MAX_ID_LENGTH)
      throw new DomainError(
        'invalid_request',
        `A device's peer id, ${deviceType}/${deviceId}, is at most ${MAX_ID_LENGTH} characters`,
        400,
        {
          device_id: `type and id together are at most ${MAX_ID_LENGTH - 1} characters`,
        },
      );
    const channels = this.channels.deviceClaims(deviceType, deviceId);
    const minted = this.tokens.mint({
      peerId,
      channels,
      permissions: ['publish', 'subscribe'],
      expiresInSec,
      role: 'device',
    });
    await this.devices.provisioned(deviceType, deviceId, 'token_minted');
    return { ...minted, peerId, channels };
  }

  mintGateway(name: string, channels: string[], expiresInSec: number): DeviceToken {
    const minted = this.tokens.mint({
      peerId: name,
      channels,
      permissions: ['publish', 'subscribe'],
      expiresInSec,
      role: 'gateway',
    });
    return { ...minted, peerId: name, channels };
  }
}
