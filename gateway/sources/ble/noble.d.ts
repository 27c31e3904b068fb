/*
 * Types for the parts of @abandonware/noble the adapter uses. The package's own index.d.ts
 * describes only the default singleton (which opens an HCI socket on load); the factories
 * below, which build a Noble over given bindings or options, ship without types.
 */
declare module '@abandonware/noble/with-bindings' {
  import type { EventEmitter } from 'node:events';

  export type NobleState =
    'unknown' | 'resetting' | 'unsupported' | 'unauthorized' | 'poweredOff' | 'poweredOn';

  export interface NobleAdvertisement {
    localName?: string;
    serviceUuids?: string[];
    manufacturerData?: Buffer;
    serviceData?: { uuid: string; data: Buffer }[];
    txPowerLevel?: number;
  }

  export interface NobleCharacteristic extends EventEmitter {
    readonly uuid: string;
    readonly properties: string[];
    read(): void;
    write(data: Buffer, withoutResponse: boolean): void;
    notify(notify: boolean): void;
  }

  export interface NobleService extends EventEmitter {
    readonly uuid: string;
    characteristics: NobleCharacteristic[] | null;
    discoverCharacteristics(characteristicUuids: string[]): void;
  }

  export interface NoblePeripheral extends EventEmitter {
    readonly id: string;
    readonly address: string;
    readonly addressType: string;
    connectable: boolean;
    advertisement: NobleAdvertisement;
    rssi: number;
    mtu: number | null;
    services: NobleService[] | null;
    state: 'error' | 'connecting' | 'connected' | 'disconnecting' | 'disconnected';
    connect(options?: object): void;
    cancelConnect(options?: object): void;
    disconnect(): void;
    updateRssi(): void;
    discoverServices(serviceUuids: string[]): void;
  }

  export interface Noble extends EventEmitter {
    readonly state: NobleState;
    address: string;
    startScanning(
      serviceUuids: string[],
      allowDuplicates: boolean,
      callback?: (error: Error | null) => void,
    ): void;
    stopScanning(): void;
    reset(): void;
  }

  /** The bindings contract noble drives (hci-socket, mac, or a test fake). */
  export interface NobleBindings extends EventEmitter {
    init(): void;
    startScanning(serviceUuids: string[] | undefined, allowDuplicates: boolean): void;
    stopScanning(): void;
    connect(peripheralUuid: string, parameters?: object): void;
    cancelConnect(peripheralUuid: string, parameters?: object): void;
    disconnect(peripheralUuid: string): void;
    reset(): void;
    updateRssi(peripheralUuid: string): void;
    discoverServices(peripheralUuid: string, serviceUuids: string[]): void;
    discoverCharacteristics(peripheralUuid: string, serviceUuid: string, characteristicUuids: string[]): void;
    read(peripheralUuid: string, serviceUuid: string, characteristicUuid: string): void;
    write(
      peripheralUuid: string,
      serviceUuid: string,
      characteristicUuid: string,
      data: Buffer,
      withoutResponse: boolean,
    ): void;
    notify(peripheralUuid: string, serviceUuid: string, characteristicUuid: string, notify: boolean): void;
  }

  const withBindings: (bindings: NobleBindings) => Noble;
  export default withBindings;
}

declare module '@abandonware/noble/with-custom-binding' {
  import type { Noble } from '@abandonware/noble/with-bindings';
  /** Builds a Noble over the platform bindings; on Linux `deviceId` picks hciN. */
  const withCustomBinding: (options?: { deviceId?: number; extended?: boolean }) => Noble;
  export default withCustomBinding;
}
