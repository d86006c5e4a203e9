"""Tables, figures and the summary of the Echo2ECG report (rules in workflow/rules/report.smk)."""
