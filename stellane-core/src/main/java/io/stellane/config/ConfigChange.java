package io.stellane.config;

/**
 * One key whose value differs between two configs, as a reload reports it:
 * {@code runtime.worker_threads 2 -> 4}. Values are shown as a user writes them; secrets stay hidden.
 *
 * @param key  the full TOML key, e.g. {@code runtime.worker_threads} or {@code server.max_body_size}
 * @param from the value before, as text
 * @param to   the value after, as text
 */
public record ConfigChange(String key, String from, String to) {
    @Override
    public String toString() {
        return key + " " + from + " -> " + to;
    }
}
