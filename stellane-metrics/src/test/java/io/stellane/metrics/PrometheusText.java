package io.stellane.metrics;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Reads samples out of Prometheus text exposition, so tests check values rather than substrings. */
final class PrometheusText {
    private static final Pattern LABEL = Pattern.compile("(\\w+)=\"((?:[^\"\\\\]|\\\\.)*)\"");

    record Sample(String name, Map<String, String> labels, double value) {
    }

    private final List<Sample> samples;

    private PrometheusText(List<Sample> samples) {
        this.samples = samples;
    }

    static PrometheusText parse(String text) {
        return new PrometheusText(text.lines().filter(l -> !l.isBlank() && !l.startsWith("#")).map(PrometheusText::sample).toList());
    }

    private static Sample sample(String line) {
        int space = line.lastIndexOf(' ');
        String head = line.substring(0, space);
        double value = Double.parseDouble(line.substring(space + 1));
        int brace = head.indexOf('{');
        if (brace < 0) {
            return new Sample(head, Map.of(), value);
        }
        Map<String, String> labels = new HashMap<>();
        Matcher m = LABEL.matcher(head.substring(brace + 1, head.length() - 1));
        while (m.find()) {
            labels.put(m.group(1), m.group(2));
        }
        return new Sample(head.substring(0, brace), labels, value);
    }

    /** The value of the one sample named {@code name} whose labels include {@code labels} (pairs); empty when none. */
    OptionalDouble value(String name, String... labels) {
        List<Sample> found = find(name, labels);
        if (found.size() > 1) {
            throw new AssertionError("more than one sample " + name + " " + List.of(labels) + ": " + found);
        }
        return found.isEmpty() ? OptionalDouble.empty() : OptionalDouble.of(found.getFirst().value());
    }

    /** The value, or NaN when there is no such sample: handy inside eventually(...). */
    double valueOrNaN(String name, String... labels) {
        return value(name, labels).orElse(Double.NaN);
    }

    List<Sample> find(String name, String... labels) {
        return samples.stream().filter(s -> s.name().equals(name)).filter(s -> {
            for (int i = 0; i < labels.length; i += 2) {
                if (!labels[i + 1].equals(s.labels().get(labels[i]))) {
                    return false;
                }
            }
            return true;
        }).toList();
    }
}
