import type { OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Injectable } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import { DeviceRejects } from '../devices/device-rejects';
import { RejectsService } from './rejects.service';

/** Keeps device messages refused outside MQTT (signalling device channels, issue #15) with the MQTT rejects. */
@Injectable()
export class DeviceRejectsRecorder implements OnModuleInit, OnModuleDestroy {
  private subscription: Subscription | undefined;

  constructor(
    private readonly deviceRejects: DeviceRejects,
    private readonly rejects: RejectsService,
  ) {}

  onModuleInit(): void {
    this.subscription = this.deviceRejects.rejects$.subscribe((r) =>
      this.rejects.record(r.topic, r.payload, r.reason, r.detail, r.receivedAt),
    );
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
  }
}
