// Start GOV.UK Frontend's components (password reveal, error summary focus, notification banners...).
import { initAll } from "./govuk-frontend.min.js";

initAll();
