using System.Globalization;

namespace Neotoma.Pages;

/// <summary>
/// Times as a person reads them, computed on the server from the request's clock (no script): relative
/// ("3 minutes ago", "in 30 days") beside absolute (UTC, so every reader sees the same instant).
/// </summary>
public static class Times
{
    public static string Absolute(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture);

    /// <summary>The <c>datetime</c> of a <c>&lt;time&gt;</c> element (ISO 8601, UTC).</summary>
    public static string Machine(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>Rounded to the nearest unit, as people say it ("in 30 days" for 29 days and 23 hours).</summary>
    public static string Relative(DateTimeOffset at, DateTimeOffset now)
    {
        var span = now - at;
        var past = span >= TimeSpan.Zero;
        var length = past ? span : -span;
        if (length < TimeSpan.FromMinutes(1))
        {
            return "just now";
        }

        var amount = Amount(length);
        return amount is "1 day" && past ? "yesterday" : past ? amount + " ago" : "in " + amount;
    }

    private static string Amount(TimeSpan length)
    {
        if ((int)Math.Round(length.TotalMinutes) is var minutes and < 60)
        {
            return Count(minutes, "minute");
        }

        if ((int)Math.Round(length.TotalHours) is var hours and < 24)
        {
            return Count(hours, "hour");
        }

        var days = (int)Math.Round(length.TotalDays);
        return days < 60 ? Count(days, "day")
            : (int)Math.Round(days / 30.4375) is var months and < 24 ? Count(months, "month")
            : Count((int)Math.Round(days / 365.25), "year");
    }

    private static string Count(int n, string unit) => n == 1 ? $"1 {unit}" : $"{n.ToString(CultureInfo.InvariantCulture)} {unit}s";
}
