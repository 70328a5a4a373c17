using System.Globalization;
using System.Text;

namespace Neotoma.Core.Security;

/// <summary>Text that someone other than the person chose (a client's name, a token's name), before a person is shown it.</summary>
public static class DisplayText
{
    /// <summary>
    /// Whether the text can be shown as it is: no control characters and no invisible formatting
    /// (bidirectional overrides and isolates such as U+202E, zero-width characters, line and
    /// paragraph separators), which could make a name read as something it is not.
    /// </summary>
    /// <remarks>Read as Unicode scalars, not UTF-16 units, so the format characters beyond the Basic Multilingual Plane (the invisible tag characters U+E0000-E007F) are seen too.</remarks>
    public static bool IsShowable(string value) =>
        !value.EnumerateRunes().Any(rune => Rune.IsControl(rune)
            || Rune.GetUnicodeCategory(rune) is UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator);
}
