using System.Globalization;

namespace Neotoma.Core.Security;

/// <summary>Text that someone other than the person chose (a client's name, a token's name), before a person is shown it.</summary>
public static class DisplayText
{
    /// <summary>
    /// Whether the text can be shown as it is: no control characters and no invisible formatting
    /// (bidirectional overrides and isolates such as U+202E, zero-width characters, line and
    /// paragraph separators), which could make a name read as something it is not.
    /// </summary>
    public static bool IsShowable(string value) =>
        !value.Any(c => char.IsControl(c)
            || CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator);
}
