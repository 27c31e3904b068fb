import { errorCode, errorMessage } from '../observability/errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { Service } from '../service.ts';
import type { ModelManager } from './model-manager.ts';

/** Where enrollment keeps model versions (structural, so model/ does not import enrollment/). */
export interface ModelVersions {
  /** The directory of the version last activated, or the bundled one. */
  startDir(): Promise<string>;
  readonly store: { readonly bundledDir: string };
}

/**
 * Loads the model the gateway serves (it refuses to run without one): the version enrollment
 * last activated (enrollment.storeDir/active.json), else model.path. An activated version that
 * no longer loads is reported and the bundled model serves.
 */
export class ModelService implements Service {
  readonly name = 'model';

  constructor(
    private readonly models: ModelManager,
    private readonly versions: ModelVersions,
    private readonly bundledPath: string,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const dir = await this.versions.startDir();
    if (dir === this.versions.store.bundledDir) {
      await this.models.start(this.bundledPath);
      return;
    }
    try {
      await this.models.start(dir);
    } catch (err) {
      this.logger.error(
        { code: errorCode(err), dir },
        `the active model version does not load (${errorMessage(err)}); starting with ${this.bundledPath}`,
      );
      await this.models.start(this.bundledPath);
    }
  }

  stop(): Promise<void> {
    return this.models.close();
  }
}
