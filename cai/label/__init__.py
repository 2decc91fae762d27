"""RLAIF preference labelling, the Constitutional AI paper's way.

A feedback model reads a conversation, a comparison principle and two answers shown as (A) and (B);
the label is its normalised next-token probability of "A" against "B" (never a parsed string),
averaged over K sampled principles, each asked in both orders. Modules:

- pairs:   which two answers of a record are compared (initial/final, two rounds, policy samples)
- judge:   pure logic: plan the questions, score one answer, combine scores into a verdict
- steps:   the pipeline steps that call the engine (labelling, and drawing extra policy samples)
- stats:   the label distribution, agreement with "revision wins", position bias
- options: validation of the label options of a run configuration
- dataset: reading an existing pair dataset for `cai label`
"""
