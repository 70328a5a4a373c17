using System.Text.Json;
using System.Text.Json.Nodes;

namespace Neotoma.Core.Truth;

public sealed record ObservationRecord(
    string Id, JsonElement Fields, string Source, int SourcePriority, int Specificity, DateTimeOffset ObservedAt, DateTimeOffset CreatedAt);

/// <summary>
/// Reduces an entity's observations to its current truth: for each field, the value of the
/// observation with the highest source priority, then the highest specificity, then the most
/// recent observed_at (and, for ties, the one recorded last), with that observation as provenance.
/// </summary>
public static class SnapshotReducer
{
    public static (JsonObject Fields, Dictionary<string, FieldProvenance> Provenance) Reduce(IEnumerable<ObservationRecord> observations)
    {
        var winners = new Dictionary<string, (ObservationRecord Observation, JsonElement Value)>(StringComparer.Ordinal);
        foreach (var observation in observations)
        {
            if (observation.Fields.ValueKind != JsonValueKind.Object)
            {
                continue;
            }

            foreach (var field in observation.Fields.EnumerateObject())
            {
                if (!winners.TryGetValue(field.Name, out var current) || Outranks(observation, current.Observation))
                {
                    winners[field.Name] = (observation, field.Value);
                }
            }
        }

        var fields = new JsonObject();
        var provenance = new Dictionary<string, FieldProvenance>(StringComparer.Ordinal);
        foreach (var (name, (observation, value)) in winners.OrderBy(w => w.Key, StringComparer.Ordinal))
        {
            // A field set to null by its winning observation is absent from the truth.
            if (value.ValueKind == JsonValueKind.Null)
            {
                continue;
            }

            fields[name] = JsonNode.Parse(value.GetRawText());
            provenance[name] = new FieldProvenance(observation.Id, observation.Source, observation.Specificity, observation.ObservedAt);
        }

        return (fields, provenance);
    }

    private static bool Outranks(ObservationRecord candidate, ObservationRecord current) =>
        (candidate.SourcePriority, candidate.Specificity, candidate.ObservedAt, candidate.CreatedAt)
            .CompareTo((current.SourcePriority, current.Specificity, current.ObservedAt, current.CreatedAt)) > 0;
}
