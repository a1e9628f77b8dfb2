"""The starting texts of a meeting's agenda and Terms of Reference, until the Lead edits the templates."""

DEFAULT_AGENDA = """\
1. Welcome, introductions and apologies
2. Minutes of the last meeting and progress on its actions
3. Declarations of interest in the sampled portfolios
4. Scrutiny of each sampled portfolio: first the key documentary evidence, then any other documents a member \
has identified
5. The panel's view of each assessment decision (accurate, valid, robust and sufficient) and of the support \
arrangements
6. Exemplar pieces of work to share with NQSWs and Assessors
7. Feedback to each Assessor and NQSW, and key messages for all NQSWs and Assessors
8. Themes and actions for the ASYE Steering Group
9. Any other business and the date of the next meeting
"""

DEFAULT_TERMS_OF_REFERENCE = """\
Purpose
The External Moderation Panel scrutinises the judgements of the Internal Panel on Assessors' recommendations \
about NQSWs' Assessed and Supported Year in Employment (ASYE), and moderates the quality of the support \
arrangements the ASYE programme provides. It works in partnership with people outside the council so that \
decisions are accurate, consistent and robust.

Powers
The panel gives feedback. It does not have the power to override the final judgement of the Internal Panel \
on the Assessor's recommendation.

Membership
Academics from local universities, representatives of people who use services and their carers, the \
Principal Social Worker, the ASYE Lead and, where possible, an Assessor from another employer. The Chair is \
chosen for each meeting from the members. Members are trained for the role.

Meetings and sampling
The panel meets twice a year. Before each meeting the Chair draws a random sample of at least two portfolios \
whose Internal Panel outcome was given since the last meeting. The NQSWs and Assessors whose portfolios are \
sampled are told. Members read every sampled portfolio before the meeting; a member who cannot attend sends \
apologies and submits a written assessment.

Confidentiality
Portfolios are read only through the secure portal, only by the members of the meeting and only until the \
access window closes after the minutes are published. Members see portfolios under a label, not the names of \
the NQSW or Assessor. Nothing is downloaded to shared or personal devices for longer than the reading needs.

Outcomes
The Chair records the panel's views on each decision and on the support arrangements. Feedback goes to each \
Assessor and NQSW, key messages to all NQSWs and Assessors within a few days of the meeting, exemplars are \
confirmed, and themes and actions are reported to the ASYE Steering Group.
"""
