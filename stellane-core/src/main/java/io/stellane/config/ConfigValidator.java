package io.stellane.config;

/** Range checks of {@link RuntimeConfig}; the helper owns the full version. */
final class ConfigValidator {
    private ConfigValidator() {
    }

    static void validate(RuntimeConfig c) {
        if (c.workerThreads() < 1 || c.workerThreads() > 1024) {
            throw new ConfigException("runtime.worker_threads", c.workerThreads(), "an integer from 1 to 1024");
        }
        if (c.maxTasksPerLoop() < 1 || c.maxTasksPerLoop() > 1_000_000) {
            throw new ConfigException("runtime.max_tasks_per_loop", c.maxTasksPerLoop(), "an integer from 1 to 1000000");
        }
    }
}
