import { Injectable } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { Subject } from 'rxjs';
import type { RejectReason } from './device-payloads';

/** A device message refused by an entry point other than MQTT's (a signalling device channel, issue #15). */
export interface DeviceReject {
  /** The topic or channel it came on. */
  topic: string;
  payload: Buffer;
  reason: RejectReason;
  detail: string;
  receivedAt: number;
}

/**
 * Where such rejects leave for the rejects store (counted, logged, kept for
 * `GET /admin/rejects`), which the MQTT module owns: as with
 * OutboundCommands, devices/ and signalling/ never reach into mqtt/.
 */
@Injectable()
export class DeviceRejects {
  private readonly subject = new Subject<DeviceReject>();
  readonly rejects$: Observable<DeviceReject> = this.subject.asObservable();

  record(reject: DeviceReject): void {
    this.subject.next(reject);
  }
}
