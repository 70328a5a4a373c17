using System.Text.Json;
using Neotoma.Core.Truth;

namespace Neotoma.Tests.Truth;

/// <summary>Per field: highest source priority, then specificity, then most recent; provenance names the winner.</summary>
public sealed class SnapshotReducerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static ObservationRecord Observation(string id, string json, string source, int specificity, int day) =>
        new(id, JsonDocument.Parse(json).RootElement, source, Sources.Priority(source), specificity, T0.AddDays(day), T0.AddDays(day));

    [Fact]
    public void EachFieldComesFromItsBestObservation()
    {
        var (fields, provenance) = SnapshotReducer.Reduce(
        [
            Observation("ai-late", """{"title":"CTO","city":"Paris"}""", Sources.Ai, 100, day: 9),
            Observation("structured", """{"title":"Engineer","email":"a@b.c"}""", Sources.Structured, 0, day: 1),
            Observation("structured-specific", """{"email":"ada@b.c"}""", Sources.Structured, 50, day: 0),
            Observation("correction", """{"city":"London"}""", Sources.Correction, 0, day: 2),
        ]);

        Assert.Equal("Engineer", fields["title"]!.GetValue<string>());
        Assert.Equal("structured", provenance["title"].ObservationId);
        Assert.Equal("ada@b.c", fields["email"]!.GetValue<string>());
        Assert.Equal("structured-specific", provenance["email"].ObservationId);
        Assert.Equal("London", fields["city"]!.GetValue<string>());
        Assert.Equal("correction", provenance["city"].Source);
    }

    [Fact]
    public void AmongEqualsTheMostRecentWins_AndANullWinnerRemovesTheField()
    {
        var (fields, provenance) = SnapshotReducer.Reduce(
        [
            Observation("old", """{"status":"open","owner":"ann"}""", Sources.Structured, 0, day: 1),
            Observation("new", """{"status":"closed","owner":null}""", Sources.Structured, 0, day: 5),
        ]);

        Assert.Equal("closed", fields["status"]!.GetValue<string>());
        Assert.Equal("new", provenance["status"].ObservationId);
        Assert.False(fields.ContainsKey("owner"));
    }
}
