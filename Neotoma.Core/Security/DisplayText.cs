using System.Globalization;
using System.Text;

namespace Neotoma.Core.Security;

/// <summary>Text that someone other than the person chose (a client's name, a token's name), before a person is shown it.</summary>
public static class DisplayText
{
    /// <summary>A value an untrusted party chose, fit to quote in an error or a log line: control characters dropped, at most 200 characters.</summary>
    public static string Printable(string value)
    {
        var clean = new string(value.Where(c => !char.IsControl(c)).ToArray());
        return clean.Length > 200 ? clean[..200] + "…" : clean;
    }

    /// <summary>
    /// Whether the text can be shown as it is: no control characters and no invisible formatting
    /// (bidirectional overrides and isolates such as U+202E, zero-width characters, line and
    /// paragraph separators), which could make a name read as something it is not.
    /// </summary>
    /// <remarks>Read as Unicode scalars, not UTF-16 units, so the format characters beyond the Basic Multilingual Plane (the invisible tag characters U+E0000-E007F) are seen too.</remarks>
    public static bool IsShowable(string value) =>
        !value.EnumerateRunes().Any(rune => Rune.IsControl(rune)
            || Rune.GetUnicodeCategory(rune) is UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator);

    /// <summary>
    /// A URI's host and port as a person should read them: the host in its ASCII (punycode) form,
    /// so a look-alike such as <c>сlaude.ai</c> with a Cyrillic <c>с</c> shows as <c>xn--laude-0ye.ai</c>.
    /// </summary>
    public static string AsciiAuthority(Uri uri) => uri.IdnHost + Port(uri);

    /// <summary>The same authority in Unicode, or null when it reads the same as <see cref="AsciiAuthority"/>.</summary>
    public static string? UnicodeAuthority(Uri uri) => uri.IdnHost != uri.Host ? uri.Host + Port(uri) : null;

    private static string Port(Uri uri) => uri.IsDefaultPort || uri.Port < 0 ? "" : ":" + uri.Port;
}
