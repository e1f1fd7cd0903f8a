"""Form pieces every app's pages share."""

from django import forms


class CountedTextarea(forms.Textarea):
    """A textarea that shows its length against the field's limit instead of cutting text short.

    A browser's `maxlength` silently drops whatever is pasted past the limit; here the limit
    travels as `data-maxlength`, `static/app/counter.js` shows "1,234 / 2,000" (and how many
    too many), and the server refuses an over-long value with a form error, text kept.
    """

    def build_attrs(self, base_attrs, extra_attrs=None):
        attrs = super().build_attrs(base_attrs, extra_attrs)
        if "maxlength" in attrs:
            attrs["data-maxlength"] = attrs.pop("maxlength")
        return attrs
