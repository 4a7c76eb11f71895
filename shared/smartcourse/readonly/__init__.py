"""Named, read-only access across the LMS / AI ownership line.

The LMS and AI sides own separate schemas and write only their own. Where one side must read a
fact the other owns, it does so through a module here, so every cross-schema read is explicit:
- `ai_index`: the LMS reads an asset's indexing status (ai.asset_index_status).
- `lms_facts`: the AI side reads enrollment, course version and asset facts (lms.*).
- `lms_people`: the notifications side reads courses, their learners and versions (lms.*).
- `ai_questions`: analytics reads learners' questions and content-gap clusters (ai.*).
"""
