// Why a page request was refused. Shown on the error page as code and description, so the description
// must be written for the person in front of the browser and reveal nothing internal.
export class PageError extends Error {
  readonly status: number;
  readonly error: string;
  readonly description: string;

  constructor(status: number, error: string, description: string) {
    super(description);
    this.status = status;
    this.error = error;
    this.description = description;
  }
}
