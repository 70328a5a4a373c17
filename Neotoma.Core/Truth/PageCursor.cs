using System.Globalization;
using System.Text;

namespace Neotoma.Core.Truth;

/// <summary>
/// Where a page of a list ended, handed to the caller as an opaque string (<c>next_cursor</c>) and
/// given back to read on from there (<c>cursor</c>): the next page is read from that place in the
/// list's index, so its cost does not grow with how many pages came before, as an offset's does. It
/// carries the list it belongs to, the sort time and the row's id; it grants nothing (the rows are
/// still the caller's own by row-level security), so it needs no signature.
/// </summary>
internal static class PageCursor
{
    public const string Entities = "e1";

    public const string Timeline = "t1";

    public readonly record struct Place(DateTimeOffset At, string Id);

    public static string Write(string list, DateTimeOffset at, string id) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes($"{list}:{at.UtcTicks.ToString(CultureInfo.InvariantCulture)}:{id}"))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The place a cursor names, or null without one; bad input as the field's error.</summary>
    public static Place? Read(string? cursor, string list, int? offset)
    {
        if (string.IsNullOrEmpty(cursor))
        {
            return null;
        }

        if (offset is > 0)
        {
            throw new TruthInputException("cursor", "give cursor or offset, not both");
        }

        try
        {
            var padded = cursor.Replace('-', '+').Replace('_', '/');
            padded += new string('=', (4 - padded.Length % 4) % 4);
            var parts = Encoding.UTF8.GetString(Convert.FromBase64String(padded)).Split(':', 3);
            if (parts.Length == 3 && parts[0] == list && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks)
                && ticks <= DateTimeOffset.MaxValue.UtcTicks && parts[2].Length > 0)
            {
                return new Place(new DateTimeOffset(ticks, TimeSpan.Zero), parts[2]);
            }
        }
        catch (FormatException)
        {
        }

        throw new TruthInputException("cursor", "is not a next_cursor this list gave; ask again without it");
    }
}
